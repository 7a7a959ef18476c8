{{ fact_config(unique_key='order_item_key', cluster_column='order_key') }}

-- One row per product line of every order (the lines of the cart's latest
-- upsert, carried by int_carts_latest), priced at the product's price
-- valid at the order date (or its earliest known price). Incremental runs
-- recompute the carts with events in the lookback window; lines a cart no
-- longer has are kept with quantity 0 and is_removed, so a merge leaves no
-- stale line.
with

carts as (

    {{ carts_to_build() }}

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

cart_lines as (

    {{ unnest_lines('carts', 'lines', ['cart_id', 'user_id', 'is_deleted', 'last_event_at', 'cart_date']) }}

),

lines as (

    select
        cart_id,
        user_id,
        is_deleted,
        last_event_at,
        line.product_id as product_id,
        line_number,
        line.quantity as quantity,
        cast(cart_date as date) as order_date
    from cart_lines

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
            and coalesce(cast(price_at_order.dbt_valid_to as date), date '9999-12-31') > lines.order_date
    left join earliest_price on lines.product_id = earliest_price.product_id

),

current_lines as (

    select
        {{ surrogate_key(['cart_id', 'line_number']) }} as order_item_key,
        {{ surrogate_key(['cart_id']) }} as order_key,
        {{ surrogate_key(['product_id']) }} as product_key,
        cart_id,
        line_number,
        order_date,
        quantity,
        cast(unit_price as {{ money_type() }}) as unit_price,
        cast(quantity * unit_price as {{ money_type() }}) as line_revenue,
        is_deleted,
        false as is_removed,
        last_event_at
    from priced

){% if is_incremental() %}
    ,

    recomputed_carts as (

        select distinct cart_id from carts

    ),

    removed_lines as (

        select
            existing.order_item_key,
            existing.order_key,
            existing.product_key,
            existing.cart_id,
            existing.line_number,
            existing.order_date,
            cast(0 as {{ dbt.type_bigint() }}) as quantity,
            existing.unit_price,
            cast(0 as {{ money_type() }}) as line_revenue,
            existing.is_deleted,
            true as is_removed,
            existing.last_event_at
        from {{ this }} as existing
        inner join recomputed_carts on existing.cart_id = recomputed_carts.cart_id
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
