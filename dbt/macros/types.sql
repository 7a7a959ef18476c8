{#- The type of every money column: BigQuery's NUMERIC (38 digits, 9 after
    the point), and on DuckDB a decimal of the same precision and scale rather
    than its default numeric, DECIMAL(18,3), which rounds to 3 places and
    overflows at 10^15. Both engines then hold and round amounts alike. -#}
{% macro money_type() -%}
    {{ return(adapter.dispatch('money_type', 'shoplake')()) }}
{%- endmacro %}

{% macro default__money_type() -%}
    decimal(38, 9)
{%- endmacro %}

{% macro bigquery__money_type() -%}
    numeric
{%- endmacro %}
