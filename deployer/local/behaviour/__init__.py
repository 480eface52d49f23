"""What AWS does that moto does not: the behaviour the emulator adds to moto's state.

moto keeps the AWS state but runs nothing. Each module here is one piece of AWS behaviour. None
starts a process or a server, and each takes its clock, its clients and its callbacks from the
emulator, so unit tests drive it on a `ManualClock`:

- `clock`: emulated time, faster than the wall clock (a five-minute bake in seconds).
- `metrics`: CloudWatch Logs' EMF extraction and CloudWatch's datapoint store (percentiles
  included), plus the batch mirror of those datapoints into moto.
- `logs`: the function's log stream: each request's lines to the telemetry sink, the alarms'
  datapoints to the metric store at once, the rest kept for `deployer logs`.
- `alarms`: CloudWatch alarm evaluation (periods, datapoints to alarm, missing data, percentiles).
- `rollout`: the canary schedule and auto-rollback that CodeDeploy / Step Functions run.
- `notify`: SNS deliveries (PagerDuty, Slack, webhook, email), recorded where a user can read them.

Named after the job (behaviour), not after AWS: `deployer.aws` is the real-AWS layer.
"""
