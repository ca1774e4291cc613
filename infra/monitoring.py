"""Operations: one CloudWatch dashboard and the alarms that say the service is failing.

Alarms: each function's errors and throttles; the WebSocket API's execution and
integration errors (its 5xx) and client errors (where API Gateway counts
throttled connects and messages: WebSocket APIs publish no separate throttle
metric); DynamoDB read and write throttling; the coturn instance's status check.
``-c alarmEmail=…`` sends them all to an address through an SNS topic.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

PERIOD = Duration.minutes(5)
#: Client errors (4xx, throttling among them) per 5 minutes before anyone is woken:
#: a wrong link or a closed tab makes a few; a throttled stage makes hundreds.
CLIENT_ERROR_THRESHOLD = 100


class Monitoring(Construct):
    """Dashboard, alarms, and the optional e-mail topic."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: dict[str, lambda_.Function],
        api: apigwv2.WebSocketApi,
        stage: apigwv2.WebSocketStage,
        table: dynamodb.Table,
        extra_alarms: list[cloudwatch.Alarm],
        alarm_email: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(name: str, metric: cloudwatch.IMetric, threshold: float,
                  description: str) -> cloudwatch.Alarm:
            created = cloudwatch.Alarm(
                self, name, metric=metric, threshold=threshold, evaluation_periods=1,
                comparison_operator=(
                    cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD),
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            self.alarms.append(created)
            return created

        for name, fn in functions.items():
            alarm(f"{name}Errors", fn.metric_errors(period=PERIOD, statistic="Sum"), 1,
                  f"the {name.lower()} function raised errors")
            alarm(f"{name}Throttles", fn.metric_throttles(period=PERIOD, statistic="Sum"), 1,
                  f"the {name.lower()} function was throttled (account concurrency)")

        def api_metric(metric_name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/ApiGateway", metric_name=metric_name,
                dimensions_map={"ApiId": api.api_id, "Stage": stage.stage_name},
                statistic="Sum", period=PERIOD,
            )

        alarm("ApiExecutionErrors", api_metric("ExecutionError"), 1,
              "the WebSocket API failed requests itself (5xx)")
        alarm("ApiIntegrationErrors", api_metric("IntegrationError"), 1,
              "the WebSocket API got errors from the functions")
        alarm("ApiClientErrors", api_metric("ClientError"), CLIENT_ERROR_THRESHOLD,
              "many 4xx from the WebSocket API: throttled connects or messages "
              "(throttleRateLimit / throttleBurstLimit) or refused connects")
        throttled = cloudwatch.MathExpression(
            expression="reads + writes",
            using_metrics={
                "reads": table.metric("ReadThrottleEvents", statistic="Sum", period=PERIOD),
                "writes": table.metric("WriteThrottleEvents", statistic="Sum", period=PERIOD),
            },
            label="DynamoDB throttle events",
            period=PERIOD,
        )
        alarm("TableThrottles", throttled, 1, "DynamoDB throttled reads or writes")
        self.alarms.extend(extra_alarms)

        self.topic: sns.Topic | None = None
        if alarm_email:
            self.topic = sns.Topic(self, "AlarmTopic", display_name="SGraph Send alarms",
                                   enforce_ssl=True)
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
            for each in self.alarms:
                each.add_alarm_action(actions.SnsAction(self.topic))
                each.add_ok_action(actions.SnsAction(self.topic))

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=None)
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="WebSocket API", width=12,
                left=[api_metric("ConnectCount"), api_metric("MessageCount")],
                right=[api_metric("ClientError"), api_metric("ExecutionError"),
                       api_metric("IntegrationError")],
            ),
            cloudwatch.GraphWidget(
                title="Functions: errors and throttles", width=12,
                left=[fn.metric_errors(period=PERIOD) for fn in functions.values()],
                right=[fn.metric_throttles(period=PERIOD) for fn in functions.values()],
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Functions: duration p99 and concurrency", width=12,
                left=[fn.metric_duration(period=PERIOD, statistic="p99")
                      for fn in functions.values()],
                right=[fn.metric("ConcurrentExecutions", statistic="Maximum", period=PERIOD)
                       for fn in functions.values()],
            ),
            cloudwatch.GraphWidget(
                title="DynamoDB", width=12,
                left=[table.metric_consumed_read_capacity_units(period=PERIOD),
                      table.metric_consumed_write_capacity_units(period=PERIOD)],
                right=[throttled],
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24),
        )
