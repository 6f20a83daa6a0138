"""The workspace room: the analyst product.

- ``service.Workspace``: built once per process from a :class:`workspace.config.WorkspaceConfig`;
  every query it runs goes through ``guardrails.execute`` under a person's name and tenant;
- ``insights``: typed insights (one module per kind, one registry) compiled to Trino SQL;
- ``analyst``: the planner (the model through ``instructor``), prompts with fenced data, chats;
- ``queries``: SQL the workspace writes around a query (dashboard date ranges, downsampling);
- ``app``: the Streamlit pages; ``notebooks``: marimo export; ``evals``: the eval harness;
- ``api``: the client behind the public Python API (``causality.api.connect``);
- ``config``: the ``[workspace]`` and ``[llm]`` settings sections;
- ``errors``: ``WorkspaceError``, the root every workspace error derives from (``AccessDenied``,
  ``FilterError``; the analyst's, insights', evals' and notebooks' roots below it).

It sits above warehouse, guardrails, charts and metadata, beside the pipeline (neither imports
the other), and reaches storage only through an engine and the guardrails.
"""
