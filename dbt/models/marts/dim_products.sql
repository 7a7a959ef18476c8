with

products as (

    select * from {{ ref('stg_products') }}

),

final as (

    select
        {{ surrogate_key(['product_id']) }} as product_key,
        product_id,
        product_title,
        product_category,
        cast(price as numeric) as current_price,
        rating_rate,
        rating_count,
        snapshot_date
    from products

)

select * from final
