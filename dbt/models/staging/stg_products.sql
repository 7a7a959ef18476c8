-- The latest snapshot of each product, typed and renamed.
with

source as (

    select * from {{ source('bq_raw', 'products') }}

),

latest as (

    select *
    from source
    qualify row_number() over (partition by id order by dt desc, _extracted_at desc) = 1

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
        cast(price as {{ dbt.type_numeric() }}) as price,
        rating.rate as rating_rate,
        rating.count as rating_count,

        -- dates and timestamps
        dt as snapshot_date,
        _extracted_at as extracted_at

    from latest

)

select * from renamed
