-- A calendar covering every order date (and today). The bounds come from the
-- built fact_orders, a small table, rather than from every cart event again.
with

bounds as (

    select
        coalesce(min(order_date), current_date) as first_day,
        greatest(max(order_date), current_date) as last_day
    from {{ ref('fact_orders') }}

),

days as (

    {{ date_series('(select first_day from bounds)', '(select last_day from bounds)') }}

),

final as (

    select
        date_day,
        extract(year from date_day) * 10000 + extract(month from date_day) * 100 + extract(day from date_day) as date_key,
        extract(year from date_day) as year_number,
        extract(quarter from date_day) as quarter_number,
        extract(month from date_day) as month_number,
        extract(day from date_day) as day_of_month,
        {{ iso_day_of_week('date_day') }} as iso_day_of_week,
        {{ iso_day_of_week('date_day') }} in (6, 7) as is_weekend
    from days

)

select * from final
