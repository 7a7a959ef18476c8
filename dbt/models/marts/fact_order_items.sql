{{ fact_config(unique_key='order_item_key', cluster_column='order_key') }}

-- One row per line of every order (int_orders_latest: a FakeStore cart's
-- lines of its latest upsert, a store's order's lines of its latest
-- snapshot). A line the store priced keeps its exact price; a cart's line
-- is priced at the product's price valid at the order date (or its earliest
-- known price). Incremental runs recompute the orders with events in the
-- lookback window; lines an order no longer has are kept with quantity 0
-- and is_removed, so a merge leaves no stale line.
with

orders as (

    {{ orders_to_build() }}

),

prices as (

    select
        cast(product_id as {{ dbt.type_string() }}) as product_id,
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

order_lines as (

    {{ unnest_lines('orders', 'lines', ['order_id', 'cart_id', 'source_kind', 'is_deleted', 'last_event_at', 'order_date']) }}

),

lines as (

    select
        order_id,
        cart_id,
        source_kind,
        is_deleted,
        last_event_at,
        order_date,
        line_number,
        line.product_id as product_id,
        line.quantity as quantity,
        line.unit_price as store_unit_price,
        line.total as store_total
    from order_lines

),

priced as (

    select
        lines.*,
        coalesce(lines.store_unit_price, price_at_order.price, earliest_price.price) as unit_price
    from lines
    left join prices as price_at_order
        on
            lines.store_unit_price is null
            and lines.product_id = price_at_order.product_id
            and cast(price_at_order.dbt_valid_from as date) <= lines.order_date
            and coalesce(cast(price_at_order.dbt_valid_to as date), date '9999-12-31') > lines.order_date
    left join earliest_price
        on
            lines.store_unit_price is null
            and lines.product_id = earliest_price.product_id

),

current_lines as (

    select
        {{ surrogate_key(['order_id', 'line_number']) }} as order_item_key,
        {{ surrogate_key(['order_id']) }} as order_key,
        {{ surrogate_key(['product_id']) }} as product_key,
        order_id,
        cart_id,
        source_kind,
        line_number,
        order_date,
        quantity,
        cast(unit_price as {{ money_type() }}) as unit_price,
        cast(coalesce(store_total, quantity * unit_price) as {{ money_type() }}) as line_revenue,
        is_deleted,
        false as is_removed,
        last_event_at
    from priced

){% if is_incremental() %}
    ,

    rebuilt_orders as (

        select distinct order_id from orders

    ),

    removed_lines as (

        select
            existing.order_item_key,
            existing.order_key,
            existing.product_key,
            existing.order_id,
            existing.cart_id,
            existing.source_kind,
            existing.line_number,
            existing.order_date,
            cast(0 as {{ dbt.type_bigint() }}) as quantity,
            existing.unit_price,
            cast(0 as {{ money_type() }}) as line_revenue,
            existing.is_deleted,
            true as is_removed,
            existing.last_event_at
        from {{ this }} as existing
        inner join rebuilt_orders on existing.order_id = rebuilt_orders.order_id
        left join current_lines on existing.order_item_key = current_lines.order_item_key
        where
            current_lines.order_item_key is null
            and existing.order_date in ({{ order_dates_to_rebuild() }})

    )

    select * from current_lines
    union all
    select * from removed_lines

{% else %}

    select * from current_lines

{% endif %}
