-- One row per product: every product of the latest catalogue snapshot, and
-- an inferred member for every product an order references that no snapshot
-- has yet (carts are polled every minute, the catalogue is read daily). An
-- inferred product has only its id; the snapshot that lists it fills it in.
with

products as (

    select * from {{ ref('stg_products') }}

),

carts as (

    select
        cart_id,
        lines
    from {{ ref('int_carts_latest') }}

),

cart_lines as (

    {{ unnest_lines('carts', 'lines', ['cart_id']) }}

),

product_ids as (

    select product_id from products
    union all
    select line.product_id as product_id from cart_lines

),

distinct_ids as (

    select distinct product_id
    from product_ids
    where product_id is not null

),

final as (

    select
        {{ surrogate_key(['distinct_ids.product_id']) }} as product_key,
        distinct_ids.product_id,
        products.product_title,
        products.product_category,
        cast(products.price as {{ money_type() }}) as current_price,
        products.rating_rate,
        products.rating_count,
        products.snapshot_date,
        products.product_id is null as is_inferred
    from distinct_ids
    left join products on distinct_ids.product_id = products.product_id

)

select * from final
