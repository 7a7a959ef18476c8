{{ fact_config(unique_key='order_key', cluster_column='user_key') }}

-- One row per order of every kind (a FakeStore cart; a store's order,
-- abandoned checkout or cart), whatever store it came from. Deleted orders
-- stay, flagged, so history is kept; revenue views exclude them.
-- Incremental runs recompute the orders with events in the lookback
-- window. A line whose product has no known price yet has no revenue: the
-- order's revenue is that of its priced lines, and unpriced_item_count says
-- how many lines it leaves out.
with

orders as (

    {{ orders_to_build() }}

),

items as (

    select * from {{ ref('fact_order_items') }}
    where
        order_id in (select orders.order_id from orders)
        {% if is_incremental() %}
            and order_date in ({{ order_dates_to_rebuild() }})
        {% endif %}

),

totals as (

    select
        order_id,
        sum(case when is_removed then 0 else 1 end) as item_count,
        sum(quantity) as total_quantity,
        sum(line_revenue) as revenue,
        sum(case when not is_removed and unit_price is null then 1 else 0 end) as unpriced_item_count
    from items
    group by order_id

),

final as (

    select
        orders.order_id,
        orders.cart_id,
        orders.source_kind,
        orders.order_kind,
        orders.order_status,
        orders.currency,
        orders.is_deleted,
        orders.last_event_at,
        {{ surrogate_key(['orders.order_id']) }} as order_key,
        {{ surrogate_key(['orders.customer_id']) }} as user_key,
        orders.order_date,
        cast(coalesce(totals.item_count, 0) as {{ dbt.type_bigint() }}) as item_count,
        cast(coalesce(totals.total_quantity, 0) as {{ dbt.type_bigint() }}) as total_quantity,
        cast(coalesce(totals.revenue, 0) as {{ money_type() }}) as revenue,
        cast(coalesce(totals.unpriced_item_count, 0) as {{ dbt.type_bigint() }}) as unpriced_item_count
    from orders
    left join totals on orders.order_id = totals.order_id

)

select * from final
