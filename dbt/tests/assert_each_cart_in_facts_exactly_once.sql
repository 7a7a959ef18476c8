{{ config(tags=['full_history']) }}

-- Every cart that has a deduplicated upsert event is in fact_orders exactly once.
with carts as (
    select distinct cart_id from {{ ref('stg_cart_events') }}
    where not is_tombstone
),

counted as (
    select
        carts.cart_id,
        count(fact_orders.cart_id) as n
    from carts
    left join {{ ref('fact_orders') }} as fact_orders on carts.cart_id = fact_orders.cart_id
    group by carts.cart_id
)

select * from counted
where n != 1
