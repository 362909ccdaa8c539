"""`dataops lineage export`: the governance store's lineage as a plain graph or as OpenLineage run events.

  scope.py   which projects an export covers (the ones the acting user may read)
  graph.py   the plain graph: nodes and typed edges, as JSON
  facets.py  the platform's custom OpenLineage facets and its producer URI
  events.py  dataset versions, experiments and governed operations as OpenLineage run events
  push.py    sending the events to an OpenLineage HTTP endpoint

Nothing here is imported by the CLI until the command runs (the client libraries are not free).
"""
