-- One row per customer: every user of FakeStore's latest snapshot or
-- customer of a store's canonical one, and an inferred member for every
-- customer an order belongs to that no snapshot has yet (a customer who
-- signed up after the day's snapshot). An inferred customer has only its
-- id; the snapshot that lists it fills it in. The orders of guests (no
-- account) belong to the one customer 'guest'. Each customer's order history
-- (first and last order, orders, lifetime revenue, cohort month) counts its
-- live orders as the semantic layer's orders metric does: placed orders and
-- FakeStore carts, neither abandoned checkouts nor deleted orders.
with

fakestore_users as (

    select
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        'fakestore' as source_kind,
        email_hash,
        city,
        zipcode,
        cast(null as {{ dbt.type_string() }}) as country,
        latitude,
        longitude,
        false as is_guest,
        false as is_deleted,
        snapshot_date
    from {{ ref('stg_users') }}

),

store_customers as (

    select
        customer_id as user_id,
        source_kind,
        email_hash,
        city,
        postal_code as zipcode,
        country,
        cast(null as {{ dbt.type_float() }}) as latitude,
        cast(null as {{ dbt.type_float() }}) as longitude,
        is_guest,
        is_deleted,
        snapshot_date
    from {{ ref('stg_canonical_customers') }}

),

users as (

    select * from fakestore_users
    union all
    select * from store_customers

),

user_ids as (

    select
        user_id,
        source_kind
    from users
    union all
    select
        customer_id as user_id,
        source_kind
    from {{ ref('int_orders_latest') }}

),

distinct_ids as (

    select distinct
        user_id,
        source_kind
    from user_ids
    where user_id is not null

),

order_history as (

    select
        user_key,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) as order_count,
        sum(revenue) as lifetime_revenue
    from {{ ref('fact_orders') }}
    where not is_deleted and order_kind != 'abandoned_checkout'
    group by user_key

),

customers as (

    select
        {{ surrogate_key(['distinct_ids.user_id']) }} as user_key,
        distinct_ids.user_id,
        distinct_ids.source_kind,
        users.email_hash,
        users.city,
        users.zipcode,
        users.country,
        users.latitude,
        users.longitude,
        users.snapshot_date,
        coalesce(users.is_guest, distinct_ids.user_id = 'guest') as is_guest,
        coalesce(users.is_deleted, false) as is_deleted,
        users.user_id is null and distinct_ids.user_id != 'guest' as is_inferred
    from distinct_ids
    left join users on distinct_ids.user_id = users.user_id

),

final as (

    select
        customers.*,
        order_history.first_order_date,
        order_history.last_order_date,
        cast({{ dbt.date_trunc('month', 'order_history.first_order_date') }} as date) as cohort_month,
        cast(coalesce(order_history.order_count, 0) as {{ dbt.type_bigint() }}) as order_count,
        cast(coalesce(order_history.lifetime_revenue, 0) as {{ money_type() }}) as lifetime_revenue
    from customers
    left join order_history on customers.user_key = order_history.user_key

)

select * from final
