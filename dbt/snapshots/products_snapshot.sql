{% snapshot products_snapshot %}
{#- Price history of products (SCD type 2): a new version whenever the price
    or title of a product changes between daily snapshots. -#}
{{ config(unique_key='product_id', strategy='check', check_cols=['price', 'product_title']) }}

select product_id, product_title, price from {{ ref('stg_products') }}

{% endsnapshot %}
