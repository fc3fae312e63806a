"""The provider port: everything that talks to RunPod lives in this package.

Callers get frozen values (`models`) and errors that say what to do next (`errors`); no
`httpx` type or exception leaves the package. `port.Provider` is the port; `client.RunPodClient`
(GraphQL), `rest.client.RestClient` (REST API v2) and `auto.AutoProvider` (REST first, GraphQL for
what REST lacks) are its adapters, built by `factory.build_provider` from `[runpod] api`.
"""
