-- What a date-bounded dashboard sends, as a Looker Studio custom query (its
-- date range control fills @DS_START_DATE and @DS_END_DATE, YYYYMMDD): the
-- live orders' revenue and units by day and product category. It bounds
-- both facts by order_date, their partition column, with constant
-- parameters, so BigQuery reads only the range's partitions
-- (dbt/prodcheck compiles it for the prod target and checks so). Compile
-- it with `dbt compile --select dashboard_sales_by_category --target prod`.
with

items as (

    select
        order_key,
        product_key,
        order_date,
        quantity,
        line_revenue,
        is_deleted
    from {{ ref('fact_order_items') }}
    where order_date between parse_date('%Y%m%d', @DS_START_DATE) and parse_date('%Y%m%d', @DS_END_DATE)

),

orders as (

    select
        order_key,
        order_kind,
        currency
    from {{ ref('fact_orders') }}
    where order_date between parse_date('%Y%m%d', @DS_START_DATE) and parse_date('%Y%m%d', @DS_END_DATE)

)

select
    items.order_date,
    products.product_category,
    orders.currency,
    sum(items.quantity) as units,
    sum(items.line_revenue) as revenue
from items
inner join orders on items.order_key = orders.order_key
inner join {{ ref('dim_products') }} as products on items.product_key = products.product_key
where not items.is_deleted and orders.order_kind != 'abandoned_checkout'
group by items.order_date, products.product_category, orders.currency
