-- The latest snapshot of each user, typed and renamed. The source never holds
-- a password; no model has such a column.
with

latest as (

    {{ latest_snapshot(source('bq_raw', 'users')) }}

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
