-- One row per customer: every user of FakeStore's latest snapshot or
-- customer of a store's canonical one, and an inferred member for every
-- customer an order belongs to that no snapshot has yet (a customer who
-- signed up after the day's snapshot). An inferred customer has only its
-- id; the snapshot that lists it fills it in. The orders of guests (no
-- account) belong to the one customer 'guest'.
with

fakestore_users as (

    select
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        'fakestore' as source_kind,
        email_hash,
        city,
        zipcode,
        cast(null as {{ dbt.type_string() }}) as country,
        latitude,
        longitude,
        false as is_guest,
        false as is_deleted,
        snapshot_date
    from {{ ref('stg_users') }}

),

store_customers as (

    select
        customer_id as user_id,
        source_kind,
        email_hash,
        city,
        postal_code as zipcode,
        country,
        cast(null as {{ dbt.type_float() }}) as latitude,
        cast(null as {{ dbt.type_float() }}) as longitude,
        is_guest,
        is_deleted,
        snapshot_date
    from {{ ref('stg_canonical_customers') }}

),

users as (

    select * from fakestore_users
    union all
    select * from store_customers

),

user_ids as (

    select
        user_id,
        source_kind
    from users
    union all
    select
        customer_id as user_id,
        source_kind
    from {{ ref('int_orders_latest') }}

),

distinct_ids as (

    select distinct
        user_id,
        source_kind
    from user_ids
    where user_id is not null

),

final as (

    select
        {{ surrogate_key(['distinct_ids.user_id']) }} as user_key,
        distinct_ids.user_id,
        distinct_ids.source_kind,
        users.email_hash,
        users.city,
        users.zipcode,
        users.country,
        users.latitude,
        users.longitude,
        users.snapshot_date,
        coalesce(users.is_guest, distinct_ids.user_id = 'guest') as is_guest,
        coalesce(users.is_deleted, false) as is_deleted,
        users.user_id is null and distinct_ids.user_id != 'guest' as is_inferred
    from distinct_ids
    left join users on distinct_ids.user_id = users.user_id

)

select * from final
