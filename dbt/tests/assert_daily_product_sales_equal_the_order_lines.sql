{{ config(tags=['full_history']) }}

-- Each day's sales of each product and currency are the sums of the live
-- lines fact_order_items and fact_orders hold for it (placed orders and
-- carts, not deleted, not removed), and no day is missing.
with

lines as (

    select
        items.order_date,
        items.product_key,
        orders.currency,
        sum(items.quantity) as units,
        sum(items.line_revenue) as revenue
    from {{ ref('fact_order_items') }} as items
    inner join {{ ref('fact_orders') }} as orders on items.order_key = orders.order_key
    where
        not items.is_deleted
        and not items.is_removed
        and orders.order_kind != 'abandoned_checkout'
    group by items.order_date, items.product_key, orders.currency

),

sales as (

    select
        order_date,
        product_key,
        currency,
        units,
        revenue
    from {{ ref('fact_daily_product_sales') }}
    where units != 0 or revenue != 0

)

select
    coalesce(lines.order_date, sales.order_date) as order_date,
    coalesce(lines.product_key, sales.product_key) as product_key,
    lines.units as line_units,
    sales.units as sales_units,
    lines.revenue as line_revenue,
    sales.revenue as sales_revenue
from lines
full outer join sales
    on
        lines.order_date = sales.order_date
        and lines.product_key = sales.product_key
        and lines.currency = sales.currency
where
    lines.units is distinct from sales.units
    or coalesce(lines.revenue, 0) != coalesce(sales.revenue, 0)
