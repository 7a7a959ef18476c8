{#- Models name their dataset exactly (bq_staging, bq_analytics), in
    BigQuery and in DuckDB alike, instead of dbt's target_custom default. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
