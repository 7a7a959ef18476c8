-- The latest snapshot of each user, typed and renamed. The source never holds
-- a password; no model has such a column.
with

source as (

    select * from {{ source('bq_raw', 'users') }}

),

latest as (

    select *
    from source
    qualify row_number() over (partition by id order by dt desc, _extracted_at desc) = 1

),

renamed as (

    select
        -- ids
        id as user_id,

        -- strings
        username,
        email_hash,
        name.firstname as first_name,
        name.lastname as last_name,
        phone,
        address.city as city,
        address.street as street,
        address.zipcode as zipcode,

        -- numerics
        address.number as street_number,
        address.geolocation.lat as latitude,
        address.geolocation.long as longitude,

        -- dates and timestamps
        dt as snapshot_date,
        _extracted_at as extracted_at

    from latest

)

select * from renamed
