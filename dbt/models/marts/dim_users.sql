-- One row per customer: every user of the latest snapshot, and an inferred
-- member for every user an order belongs to that no snapshot has yet (a
-- customer who signed up after the day's snapshot). An inferred user has only
-- its id; the snapshot that lists it fills it in.
with

users as (

    select * from {{ ref('stg_users') }}

),

user_ids as (

    select user_id from users
    union all
    select user_id from {{ ref('int_carts_latest') }}

),

distinct_ids as (

    select distinct user_id
    from user_ids
    where user_id is not null

),

final as (

    select
        {{ surrogate_key(['distinct_ids.user_id']) }} as user_key,
        distinct_ids.user_id,
        users.email_hash,
        users.city,
        users.zipcode,
        users.latitude,
        users.longitude,
        users.snapshot_date,
        users.user_id is null as is_inferred
    from distinct_ids
    left join users on distinct_ids.user_id = users.user_id

)

select * from final
