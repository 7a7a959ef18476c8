{{ config(materialized='view') }}

-- The current state of every order, abandoned checkout or cart of a store
-- read as canonical records (Shopify, WooCommerce), from its two feeds: the
-- daily snapshot (stg_canonical_orders, its latest version there) and the
-- versions PollCarts published since (stg_order_events). The newest version
-- by the store's updated_at wins, the later observed on a tie. An order is
-- deleted when that version says so (WooCommerce's trash), or when the
-- snapshots say it is gone (the newest no longer lists it, or never did,
-- or holds it as a tombstone: deleted for good, found by the daily
-- reconcile of ids) and no event of it was published after they said so.
-- order_dates holds every date the order was created on in any version
-- seen, so the facts rebuild the dates it left.
with

snapshot as (

    select * from {{ ref('stg_canonical_orders') }}

),

events as (

    select * from {{ ref('stg_order_events') }}

),

versions as (

    select
        order_id,
        customer_id,
        source_kind,
        order_kind,
        order_status,
        currency,
        order_total,
        is_deleted and not is_vanished as deleted_at_store,
        lines,
        created_at,
        updated_at,
        extracted_at as observed_at,
        snapshot_date as fallback_date
    from snapshot
    union all
    select
        order_id,
        customer_id,
        source_kind,
        order_kind,
        order_status,
        currency,
        order_total,
        is_deleted as deleted_at_store,
        lines,
        created_at,
        updated_at,
        published_at as observed_at,
        published_date as fallback_date
    from events

),

ranked as (

    select
        *,
        row_number() over (
            partition by order_id
            order by updated_at desc nulls last, observed_at desc
        ) as version_rank
    from versions

),

latest as (

    select * from ranked
    where version_rank = 1

),

dated as (

    select
        order_id,
        observed_at,
        coalesce(cast(created_at as date), fallback_date) as order_date
    from versions

),

order_dates as (

    select
        order_id,
        array_agg(distinct order_date order by order_date) as order_dates,
        max(observed_at) as last_observed_at
    from dated
    group by order_id

),

last_event as (

    select
        order_id,
        max(published_at) as last_published_at
    from events
    group by order_id

),

newest_snapshot as (

    select max(last_seen_at) as newest_snapshot_at
    from snapshot

),

joined as (

    select
        latest.order_id,
        latest.customer_id,
        latest.source_kind,
        latest.order_kind,
        latest.order_status,
        latest.currency,
        latest.order_total,
        latest.lines,
        latest.created_at,
        latest.updated_at,
        coalesce(cast(latest.created_at as date), latest.fallback_date) as order_date,
        order_dates.order_dates,
        latest.deleted_at_store,
        -- When the snapshots last said the order is gone: the newest
        -- snapshot, which no longer lists it (or never did); the snapshot
        -- that holds it as a tombstone; null while the newest lists it.
        case
            when snapshot.order_id is null or snapshot.is_vanished then newest_snapshot.newest_snapshot_at
            when snapshot.is_deleted then snapshot.extracted_at
        end as gone_at,
        last_event.last_published_at,
        snapshot.last_seen_at,
        order_dates.last_observed_at
    from latest
    inner join order_dates on latest.order_id = order_dates.order_id
    left join snapshot on latest.order_id = snapshot.order_id
    left join last_event on latest.order_id = last_event.order_id
    cross join newest_snapshot

),

final as (

    select
        order_id,
        customer_id,
        source_kind,
        order_kind,
        order_status,
        currency,
        order_total,
        lines,
        created_at,
        updated_at,
        order_date,
        order_dates,
        -- Deleted as its newest version says, or gone from the snapshots
        -- since its last event: an event after that means it is back.
        deleted_at_store
        or coalesce(gone_at > last_published_at, gone_at is not null and last_published_at is null) as is_deleted,
        -- When anything was last said of the order: the newest snapshot
        -- (which lists or drops every order), or a later event.
        case
            when last_seen_at is null then last_observed_at
            when last_published_at > last_seen_at then last_published_at
            else last_seen_at
        end as last_event_at
    from joined

)

select * from final
