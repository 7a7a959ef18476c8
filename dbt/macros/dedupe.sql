{#- The deliveries of cart events with one row per event_id: the latest
    published (then stored) delivery. Raw may hold several deliveries of an
    event (retries, redeliveries, overlapping polls). -#}
{% macro dedupe_cart_events(relation) -%}
    select *
    from {{ relation }}
    qualify row_number() over (partition by event_id order by published_at desc, ingested_at desc) = 1
{%- endmacro %}

{#- The latest snapshot of each record of a batch entity (products, users):
    raw holds one row per record and snapshot day, and a day loaded twice
    keeps its latest extraction. -#}
{% macro latest_snapshot(relation, key='id') -%}
    select *
    from {{ relation }}
    qualify row_number() over (partition by {{ key }} order by dt desc, _extracted_at desc) = 1
{%- endmacro %}
