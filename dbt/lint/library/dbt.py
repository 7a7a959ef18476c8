"""dbt's cross-database type macros as BigQuery renders them, for sqlfluff.

sqlfluff templates the models with plain Jinja, where dbt's own macros do not
exist; this module stands in for the `dbt` namespace the models use.
"""


def type_string():
    return "string"


def type_numeric():
    return "numeric"


def type_bigint():
    return "int64"


def type_float():
    return "float64"


def date_trunc(datepart, date):
    return f"timestamp_trunc(cast({date} as timestamp), {datepart})"


def datediff(first_date, second_date, datepart):
    return f"datetime_diff(cast({second_date} as datetime), cast({first_date} as datetime), {datepart})"
