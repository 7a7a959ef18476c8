-- One row per product: every product of the latest catalogue snapshot
-- (FakeStore's, or a store's canonical one), and an inferred member for
-- every product an order references that no snapshot has yet (carts are
-- polled every minute, the catalogue is read daily). An inferred product
-- has only its id; the snapshot that lists it fills it in.
with

fakestore_products as (

    select
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        'fakestore' as source_kind,
        product_title,
        product_category,
        price,
        rating_rate,
        rating_count,
        false as is_deleted,
        snapshot_date
    from {{ ref('stg_products') }}

),

store_products as (

    select
        product_id,
        source_kind,
        product_title,
        product_category,
        price,
        cast(null as {{ dbt.type_float() }}) as rating_rate,
        cast(null as {{ dbt.type_bigint() }}) as rating_count,
        is_deleted,
        snapshot_date
    from {{ ref('stg_canonical_products') }}

),

products as (

    select * from fakestore_products
    union all
    select * from store_products

),

orders as (

    select
        order_id,
        source_kind,
        lines
    from {{ ref('int_orders_latest') }}

),

order_lines as (

    {{ unnest_lines('orders', 'lines', ['order_id', 'source_kind']) }}

),

product_ids as (

    select
        product_id,
        source_kind
    from products
    union all
    select
        line.product_id as product_id,
        source_kind
    from order_lines

),

distinct_ids as (

    select distinct
        product_id,
        source_kind
    from product_ids
    where product_id is not null

),

final as (

    select
        {{ surrogate_key(['distinct_ids.product_id']) }} as product_key,
        distinct_ids.product_id,
        distinct_ids.source_kind,
        products.product_title,
        products.product_category,
        cast(products.price as {{ money_type() }}) as current_price,
        products.rating_rate,
        products.rating_count,
        products.snapshot_date,
        coalesce(products.is_deleted, false) as is_deleted,
        products.product_id is null as is_inferred
    from distinct_ids
    left join products on distinct_ids.product_id = products.product_id

)

select * from final
