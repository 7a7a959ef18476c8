{#- The first day an incremental run of a model re-reads: lookback_days
    before the day of the newest value of column (a date or timestamp) the
    model already holds, as 'YYYY-MM-DD' (UTC). It is a constant in the
    compiled SQL, read with one query as the model runs, because BigQuery
    prunes partitions only on constants: a scalar subquery in the filter
    would scan every partition. An empty model re-reads everything.
    partitioned: column is the model's day partition column; on BigQuery
    the newest partition is then read from the table's partition metadata,
    not by scanning the column. -#}
{% macro lookback_start_date(model_relation, column, partitioned=false) -%}
    {%- if not execute -%}
        {{ return('0001-01-01') }}
    {%- endif -%}
    {%- if partitioned and target.type == 'bigquery' -%}
        {%- set query -%}
            select max(parse_date('%Y%m%d', partition_id)) as watermark
            from `{{ model_relation.database }}.{{ model_relation.schema }}.INFORMATION_SCHEMA.PARTITIONS`
            where table_name = '{{ model_relation.identifier }}' and regexp_contains(partition_id, r'^[0-9]{8}$')
        {%- endset -%}
    {%- else -%}
        {%- set query = 'select max(' ~ column ~ ') as watermark from ' ~ model_relation -%}
    {%- endif -%}
    {%- set newest = run_query(query).columns[0].values()[0] -%}
    {%- if newest is none -%}
        {{ return('0001-01-01') }}
    {%- endif -%}
    {%- set day = modules.datetime.date.fromisoformat((newest | string)[:10]) -%}
    {{ return((day - modules.datetime.timedelta(days=var('lookback_days'))).isoformat()) }}
{%- endmacro %}

{#- The configuration both facts share: incremental merges on their key,
    partitioned by order date and clustered on BigQuery, where each merge
    touches only the order dates of the orders it rebuilds
    (bigquery__get_merge_sql). -#}
{% macro fact_config(unique_key, cluster_column) -%}
    {{ config(
        materialized='incremental',
        unique_key=unique_key,
        incremental_strategy='merge' if target.type == 'bigquery' else 'delete+insert',
        on_schema_change='fail',
        merge_on_order_dates=true,
        partition_by={'field': 'order_date', 'data_type': 'date', 'granularity': 'day'} if target.type == 'bigquery' else none,
        cluster_by=[cluster_column] if target.type == 'bigquery' else none
    ) }}
{%- endmacro %}

{#- The orders a fact (re)builds (int_orders_latest): every order on a full
    build; on an incremental run, those with an event (a store's: a
    snapshot) since the fact's lookback start, and those the last build
    left with an unpriced line (an order can name a product before any
    catalogue snapshot lists it), however old, so that the build after the
    snapshot that lists the product prices them. -#}
{% macro orders_to_build() -%}
    select * from {{ ref('int_orders_latest') }}
    {% if is_incremental() %}
        where
            last_event_at >= timestamp '{{ lookback_start_date(this, 'last_event_at') }}'
            or order_id in ({{ unpriced_orders() }})
    {% endif %}
{%- endmacro %}

{#- The orders with an unpriced line, as fact_orders holds them before this
    run rebuilds it: a query of their order_id, which reads one row per
    order. Both facts read it (fact_order_items is built first, so it sees
    the last build's fact_orders too) without a ref, which would be a
    cycle. -#}
{% macro unpriced_orders() -%}
    {%- set none_yet = 'select cast(null as ' ~ dbt.type_string() ~ ') as order_id' -%}
    {%- if not execute -%}
        {{ return(none_yet) }}
    {%- endif -%}
    {%- set orders = adapter.get_relation(database=this.database, schema=this.schema, identifier='fact_orders') -%}
    {%- if orders is none -%}
        {{ return(none_yet) }}
    {%- endif -%}
    {{ return('select order_id from ' ~ orders ~ ' where unpriced_item_count > 0') }}
{%- endmacro %}

{#- Every order date the orders an incremental fact run rebuilds have ever
    had (int_orders_latest.order_dates), as a SQL list of date literals: the
    partitions of the fact that hold those orders' rows, before and after
    the run. A list that matches nothing when there are no such orders. -#}
{% macro order_dates_to_rebuild() -%}
    {%- if not execute -%}
        {{ return('cast(null as date)') }}
    {%- endif -%}
    {%- set query -%}
        select distinct order_date
        from ({{ unnest_order_dates('orders', key='order_id') }}) as dates
        order by order_date
    {%- endset -%}
    {%- set query = 'with orders as (' ~ orders_to_build() ~ ') ' ~ query -%}
    {%- set dates = run_query(query).columns[0].values() -%}
    {%- if dates | length == 0 -%}
        {{ return('cast(null as date)') }}
    {%- endif -%}
    {%- set literals = [] -%}
    {%- for d in dates -%}
        {%- do literals.append("date '" ~ (d | string)[:10] ~ "'") -%}
    {%- endfor -%}
    {{ return(literals | join(', ')) }}
{%- endmacro %}

{#- On BigQuery, a fact's merge (merge_on_order_dates) reads and rewrites
    only the order-date partitions of the orders it rebuilds: their rows can
    be nowhere else, and a constant list lets BigQuery prune the rest. -#}
{% macro bigquery__get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates=none) -%}
    {%- set predicates = [] if incremental_predicates is none else [] + incremental_predicates -%}
    {%- if config.get('merge_on_order_dates') -%}
        {%- do predicates.append('DBT_INTERNAL_DEST.order_date in (' ~ order_dates_to_rebuild() ~ ')') -%}
    {%- endif -%}
    {{ return(default__get_merge_sql(target, source, unique_key, dest_columns, predicates)) }}
{%- endmacro %}

{#- The configuration of the staging models of the cart_events table's rows
    (stg_cart_events, stg_order_events): incremental by whole days of
    publication, which a run replaces (BigQuery: insert_overwrite of the
    published_date partitions), clustered by cluster_column. -#}
{% macro event_staging_config(cluster_column) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='insert_overwrite' if target.type == 'bigquery' else 'delete+insert',
        unique_key=none if target.type == 'bigquery' else 'published_date',
        on_schema_change='fail',
        partition_by={'field': 'published_date', 'data_type': 'date', 'granularity': 'day'} if target.type == 'bigquery' else none,
        cluster_by=[cluster_column] if target.type == 'bigquery' else none
    ) }}
{%- endmacro %}

{#- The rows of cart_events of the event types given that a staging model
    reads: on an incremental run those published since its lookback start
    (a constant, so that BigQuery prunes the table's partitions), on a full
    build all of them. -#}
{% macro cart_events_of(event_types) -%}
    {%- set types = "('" ~ event_types | join("', '") ~ "')" -%}
    select * from {{ source('bq_raw', 'cart_events') }}
    {% if is_incremental() %}
        where
            published_at >= timestamp '{{ lookback_start_date(this, 'published_date', partitioned=true) }}'
            and event_type in {{ types }}
    {% else %}
        where event_type in {{ types }}
    {% endif %}
{%- endmacro %}
