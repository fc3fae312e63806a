"""The provider port: everything that talks to RunPod lives in this package.

Callers get frozen values (`models`) and errors that say what to do next (`errors`); no
`httpx` type or exception leaves the package. A REST v2 adapter or another GPU market would be
a sibling of `client.RunPodClient` with the same methods.
"""
