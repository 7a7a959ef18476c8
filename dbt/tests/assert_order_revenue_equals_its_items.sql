{{ config(tags=['full_history']) }}

-- Every order's revenue is the sum of its lines' revenue.
with items as (
    select
        order_key,
        sum(line_revenue) as items_revenue
    from {{ ref('fact_order_items') }}
    group by order_key
)

select
    fact_orders.order_key,
    fact_orders.revenue,
    items.items_revenue
from {{ ref('fact_orders') }} as fact_orders
left join items on fact_orders.order_key = items.order_key
where abs(fact_orders.revenue - coalesce(items.items_revenue, 0)) > 0.001
