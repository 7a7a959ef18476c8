{#- For sqlfluff only: route the project's dispatched macros to their
    bigquery__ variants, as adapter.dispatch does on the prod target, so that
    the models are linted as the BigQuery SQL they compile to. -#}
{% macro surrogate_key(fields) %}{{ bigquery__surrogate_key(fields) }}{% endmacro %}
{% macro unnest_lines(relation, array_column, keep) %}{{ bigquery__unnest_lines(relation, array_column, keep) }}{% endmacro %}
{% macro array_length(column) %}{{ bigquery__array_length(column) }}{% endmacro %}
{% macro date_series(start_date, end_date) %}{{ bigquery__date_series(start_date, end_date) }}{% endmacro %}
{% macro money_type() %}{{ bigquery__money_type() }}{% endmacro %}
{% macro iso_day_of_week(date_expr) %}{{ bigquery__iso_day_of_week(date_expr) }}{% endmacro %}
{% macro unnest_order_dates(relation, key='cart_id') %}{{ bigquery__unnest_order_dates(relation, key) }}{% endmacro %}
{% macro min_field(array_column, field) %}{{ bigquery__min_field(array_column, field) }}{% endmacro %}
{% macro cart_lines_as_order_lines(array_column) %}{{ bigquery__cart_lines_as_order_lines(array_column) }}{% endmacro %}
{#- dbt's env_var, returning the default. -#}
{% macro env_var(name, default='') %}{{ default }}{% endmacro %}
