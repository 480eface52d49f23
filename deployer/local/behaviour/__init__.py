"""What AWS does that moto does not: the behaviour the emulator adds to moto's state.

moto keeps the AWS state but runs nothing. Each module here is one piece of AWS behaviour, with
no moto, no processes and no HTTP of its own, so unit tests drive it on a `ManualClock`:

- `clock`: emulated time, faster than the wall clock (a five-minute bake in seconds).
- `metrics`: CloudWatch Logs' EMF extraction and CloudWatch's datapoint store (percentiles
  included), plus the batch mirror of those datapoints into moto.
- `alarms`: CloudWatch alarm evaluation (periods, datapoints to alarm, missing data, percentiles).
- `rollout`: the canary schedule and auto-rollback that CodeDeploy / Step Functions run.
- `notify`: SNS deliveries (PagerDuty, Slack, webhook, email), recorded where a user can read them.

Named after the job (behaviour), not after AWS: `deployer.aws` is the real-AWS layer.
"""
