"""The domain: values, states and their one transition table. No I/O, no clock reads."""
