-- One row per cart. Deleted carts stay, flagged, so history is kept; revenue
-- views exclude them.
with

carts as (

    select * from {{ ref('int_carts_latest') }}

),

items as (

    select * from {{ ref('fact_order_items') }}

),

totals as (

    select
        cart_id,
        count(*) as item_count,
        sum(quantity) as total_quantity,
        sum(line_revenue) as revenue
    from items
    group by cart_id

),

final as (

    select
        {{ surrogate_key(['carts.cart_id']) }} as order_key,
        carts.cart_id,
        {{ surrogate_key(['carts.user_id']) }} as user_key,
        cast(carts.cart_date as date) as order_date,
        coalesce(totals.item_count, 0) as item_count,
        coalesce(totals.total_quantity, 0) as total_quantity,
        coalesce(totals.revenue, 0) as revenue,
        carts.is_deleted,
        carts.last_event_at
    from carts
    left join totals on carts.cart_id = totals.cart_id

)

select * from final
