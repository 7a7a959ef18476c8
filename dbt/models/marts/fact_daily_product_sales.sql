{{ fact_config(unique_key='daily_product_sales_key', cluster_column='product_key') }}

-- depends_on: {{ ref('int_orders_latest') }}
{#- The rebuilt order dates, read once (a query) for the three reads below. -#}
{% set rebuilt_dates = order_dates_to_rebuild() if is_incremental() else none %}

-- One row per day, product and currency that has had an order line: the
-- live orders' units, revenue and number of orders (placed orders and
-- FakeStore carts; neither abandoned checkouts nor deleted orders, whose
-- lines count zero). Incremental: a run recomputes every order date of the
-- orders the facts rebuilt (order_dates_to_rebuild) from all the lines of
-- those dates, so a day's rows always sum what fact_order_items holds for it;
-- a product whose lines of a day were removed, deleted or moved to another
-- day keeps its row, at zero, and the merge leaves no stale figure.
with

items as (

    select * from {{ ref('fact_order_items') }}
    {% if is_incremental() %}
        where order_date in ({{ rebuilt_dates }})
    {% endif %}

),

orders as (

    select
        order_key,
        order_kind,
        currency
    from {{ ref('fact_orders') }}
    {% if is_incremental() %}
        where order_date in ({{ rebuilt_dates }})
    {% endif %}

),

lines as (

    select
        items.order_date,
        items.product_key,
        items.source_kind,
        orders.currency,
        items.order_key,
        items.quantity,
        items.line_revenue,
        items.last_event_at,
        not items.is_deleted and not items.is_removed and orders.order_kind != 'abandoned_checkout' as is_live
    from items
    inner join orders on items.order_key = orders.order_key

),

final as (

    select
        {{ surrogate_key(['order_date', 'product_key', 'currency']) }} as daily_product_sales_key,
        order_date,
        product_key,
        source_kind,
        currency,
        cast(count(distinct case when is_live then order_key end) as {{ dbt.type_bigint() }}) as order_count,
        cast(sum(case when is_live then quantity else 0 end) as {{ dbt.type_bigint() }}) as units,
        cast(sum(case when is_live then line_revenue else 0 end) as {{ money_type() }}) as revenue,
        max(last_event_at) as last_event_at
    from lines
    group by order_date, product_key, source_kind, currency

){% if is_incremental() %}
    ,

    -- A day's product that no line of the day has any more (its order
    -- moved to another date): kept, at zero, so that no stale figure stays.
    emptied as (

        select
            existing.daily_product_sales_key,
            existing.order_date,
            existing.product_key,
            existing.source_kind,
            existing.currency,
            cast(0 as {{ dbt.type_bigint() }}) as order_count,
            cast(0 as {{ dbt.type_bigint() }}) as units,
            cast(0 as {{ money_type() }}) as revenue,
            existing.last_event_at
        from {{ this }} as existing
        left join final on existing.daily_product_sales_key = final.daily_product_sales_key
        where
            final.daily_product_sales_key is null
            and existing.order_date in ({{ rebuilt_dates }})

    )

    select * from final
    union all
    select * from emptied

{% else %}

    select * from final

{% endif %}
