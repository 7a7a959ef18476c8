{#- The deliveries of cart events with one row per event_id and day of
    publication (UTC): the latest published (then stored) delivery. Raw may
    hold several deliveries of an event (retries, redeliveries, overlapping
    polls). The day is part of the grain so that a day's rows depend on that
    day's deliveries alone: an incremental run replaces whole days, and an
    event id seen again on a later day (a cart changed back to an earlier
    content) stays once on each day. -#}
{% macro dedupe_cart_events(relation) -%}
    select *
    from {{ relation }}
    qualify row_number() over (
        partition by event_id, cast(published_at as date)
        order by published_at desc, ingested_at desc
    ) = 1
{%- endmacro %}

{#- The latest snapshot of each record of a batch entity (products, users):
    raw holds one row per record and snapshot day, and a day loaded twice
    keeps its latest extraction. -#}
{% macro latest_snapshot(relation, key='id') -%}
    select *
    from {{ relation }}
    qualify row_number() over (partition by {{ key }} order by dt desc, _extracted_at desc) = 1
{%- endmacro %}

{#- The latest snapshot of each record of a store's canonical raw table
    (canonical_products, …), by source_id, with is_vanished (the newest
    snapshot no longer lists it: the store deleted it) and
    newest_extracted_at (when the newest snapshot was read). -#}
{% macro latest_canonical_snapshot(table) -%}
    with

    latest as (

        {{ latest_snapshot(source('bq_raw', table), key='source_id') }}

    ),

    newest as (

        select
            max(dt) as newest_dt,
            max(_extracted_at) as newest_extracted_at
        from {{ source('bq_raw', table) }}

    )

    select
        latest.*,
        latest.dt < newest.newest_dt as is_vanished,
        newest.newest_extracted_at
    from latest
    cross join newest
{%- endmacro %}
