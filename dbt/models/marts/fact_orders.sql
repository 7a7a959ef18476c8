{{ fact_config(unique_key='order_key', cluster_column='user_key') }}

-- One row per cart. Deleted carts stay, flagged, so history is kept; revenue
-- views exclude them. Incremental runs recompute the carts with events in the
-- lookback window. A line whose product has no known price yet has no
-- revenue: the order's revenue is that of its priced lines, and
-- unpriced_item_count says how many lines it leaves out.
with

carts as (

    {{ carts_to_build() }}

),

items as (

    select * from {{ ref('fact_order_items') }}
    where
        cart_id in (select carts.cart_id from carts)
        {% if is_incremental() %}
            and order_date in ({{ order_dates_to_rebuild() }})
        {% endif %}

),

totals as (

    select
        cart_id,
        sum(case when is_removed then 0 else 1 end) as item_count,
        sum(quantity) as total_quantity,
        sum(line_revenue) as revenue,
        sum(case when not is_removed and unit_price is null then 1 else 0 end) as unpriced_item_count
    from items
    group by cart_id

),

final as (

    select
        carts.cart_id,
        carts.is_deleted,
        carts.last_event_at,
        {{ surrogate_key(['carts.cart_id']) }} as order_key,
        {{ surrogate_key(['carts.user_id']) }} as user_key,
        cast(carts.cart_date as date) as order_date,
        cast(coalesce(totals.item_count, 0) as {{ dbt.type_bigint() }}) as item_count,
        cast(coalesce(totals.total_quantity, 0) as {{ dbt.type_bigint() }}) as total_quantity,
        cast(coalesce(totals.revenue, 0) as {{ money_type() }}) as revenue,
        cast(coalesce(totals.unpriced_item_count, 0) as {{ dbt.type_bigint() }}) as unpriced_item_count
    from carts
    left join totals on carts.cart_id = totals.cart_id

)

select * from final
