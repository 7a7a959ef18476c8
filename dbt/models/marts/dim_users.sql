with

users as (

    select * from {{ ref('stg_users') }}

),

final as (

    select
        {{ surrogate_key(['user_id']) }} as user_key,
        user_id,
        email_hash,
        city,
        zipcode,
        latitude,
        longitude,
        snapshot_date
    from users

)

select * from final
