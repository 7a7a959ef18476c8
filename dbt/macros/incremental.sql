{#- The start of an incremental model's lookback window: lookback_days
    before the newest cart event the model already holds (its
    last_event_at column), as a scalar subquery. -#}
{% macro lookback_start(model_relation) -%}
    (
        select {{ timestamp_minus_days('max(last_event_at)', var('lookback_days')) }}
        from {{ model_relation }}
    )
{%- endmacro %}

{#- The carts with an event published in the lookback window of
    model_relation: the carts an incremental run recomputes. -#}
{% macro recent_carts(model_relation) -%}
    select distinct cart_id
    from {{ ref('stg_cart_events') }}
    where published_at >= {{ lookback_start(model_relation) }}
{%- endmacro %}

{#- The configuration both facts share: incremental merges on their key,
    partitioned by order date and clustered on BigQuery. -#}
{% macro fact_config(unique_key, cluster_column) -%}
    {{ config(
        materialized='incremental',
        unique_key=unique_key,
        incremental_strategy='merge',
        on_schema_change='fail',
        partition_by={'field': 'order_date', 'data_type': 'date', 'granularity': 'day'} if target.type == 'bigquery' else none,
        cluster_by=[cluster_column] if target.type == 'bigquery' else none
    ) }}
{%- endmacro %}

{#- The carts a fact (re)builds: every cart on a full build, on an
    incremental run those with an event in the lookback window. -#}
{% macro carts_to_build() -%}
    select * from {{ ref('int_carts_latest') }}
    {% if is_incremental() %}
        where last_event_at >= {{ lookback_start(this) }}
    {% endif %}
{%- endmacro %}
