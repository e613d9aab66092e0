"""The CDK constructs that deploy ECR Janitor: the function and its schedule, the dashboard and alarms.

Each module holds one small construct (or the helpers it needs) with keyword-only props. Names the
function also uses (service, metric namespace, env vars, metric names) are imported from
`ecr_janitor`, never retyped here.
"""
