-- One row per product line of every cart, priced at the product's price valid
-- at the order date (or its earliest known price).
with

carts as (

    select * from {{ ref('int_carts_latest') }}

),

items as (

    select * from {{ ref('stg_cart_items') }}

),

prices as (

    select
        product_id,
        price,
        dbt_valid_from,
        dbt_valid_to
    from {{ ref('products_snapshot') }}

),

earliest_price as (

    select
        product_id,
        price
    from prices
    qualify row_number() over (partition by product_id order by dbt_valid_from) = 1

),

lines as (

    select
        carts.cart_id,
        carts.user_id,
        cast(carts.cart_date as date) as order_date,
        carts.is_deleted,
        items.product_id,
        items.line_number,
        items.quantity
    from carts
    inner join items on carts.upsert_event_id = items.event_id

),

priced as (

    select
        lines.*,
        coalesce(price_at_order.price, earliest_price.price) as unit_price
    from lines
    left join prices as price_at_order
        on
            lines.product_id = price_at_order.product_id
            and cast(price_at_order.dbt_valid_from as date) <= lines.order_date
            and (price_at_order.dbt_valid_to is null or cast(price_at_order.dbt_valid_to as date) > lines.order_date)
    left join earliest_price on lines.product_id = earliest_price.product_id

),

final as (

    select
        {{ surrogate_key(['cart_id', 'line_number']) }} as order_item_key,
        {{ surrogate_key(['cart_id']) }} as order_key,
        {{ surrogate_key(['product_id']) }} as product_key,
        cart_id,
        line_number,
        order_date,
        quantity,
        unit_price,
        quantity * unit_price as line_revenue,
        is_deleted
    from priced

)

select * from final
