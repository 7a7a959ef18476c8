-- The latest snapshot of each product, typed and renamed.
with

latest as (

    {{ latest_snapshot(source('bq_raw', 'products')) }}

),

renamed as (

    select
        -- ids
        id as product_id,

        -- strings
        trim(title) as product_title,
        category as product_category,
        description as product_description,
        image as image_url,

        -- numerics
        cast(price as {{ money_type() }}) as price,
        rating.rate as rating_rate,
        rating.count as rating_count,

        -- dates and timestamps
        dt as snapshot_date,
        _extracted_at as extracted_at

    from latest

)

select * from renamed
