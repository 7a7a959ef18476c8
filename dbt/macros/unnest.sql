{#- Selects one row per element of a repeated record column: the relation's
    columns listed in keep, plus the element as `line` and its 0-based
    position as `line_number`. -#}
{% macro unnest_lines(relation, array_column, keep) -%}
    {{ return(adapter.dispatch('unnest_lines', 'shoplake')(relation, array_column, keep)) }}
{%- endmacro %}

{% macro default__unnest_lines(relation, array_column, keep) -%}
    select
        {% for c in keep %}{{ c }},
        {% endfor -%}
        unnest({{ array_column }}) as line,
        generate_subscripts({{ array_column }}, 1) - 1 as line_number
    from {{ relation }}
{%- endmacro %}

{% macro bigquery__unnest_lines(relation, array_column, keep) -%}
    select
        {% for c in keep %}{{ relation }}.{{ c }},
        {% endfor -%}
        line,
        line_number
    from {{ relation }}
    cross join unnest({{ relation }}.{{ array_column }}) as line with offset as line_number
{%- endmacro %}

{#- The number of elements of an array column. -#}
{% macro array_length(column) -%}
    {{ return(adapter.dispatch('array_length', 'shoplake')(column)) }}
{%- endmacro %}

{% macro default__array_length(column) -%}
    len({{ column }})
{%- endmacro %}

{% macro bigquery__array_length(column) -%}
    array_length({{ column }})
{%- endmacro %}

{#- Selects one row per order date an order of relation has had (its
    order_dates array): the key column (cart_id in int_carts_latest,
    order_id in int_orders_latest) and order_date. -#}
{% macro unnest_order_dates(relation, key='cart_id') -%}
    {{ return(adapter.dispatch('unnest_order_dates', 'shoplake')(relation, key)) }}
{%- endmacro %}

{% macro default__unnest_order_dates(relation, key) -%}
    select
        {{ key }},
        unnest(order_dates) as order_date
    from {{ relation }}
{%- endmacro %}

{% macro bigquery__unnest_order_dates(relation, key) -%}
    select
        {{ relation }}.{{ key }},
        order_date
    from {{ relation }}
    cross join unnest({{ relation }}.order_dates) as order_date
{%- endmacro %}

{#- The least value of a field over the elements of a repeated record
    column (null when it is empty). -#}
{% macro min_field(array_column, field) -%}
    {{ return(adapter.dispatch('min_field', 'shoplake')(array_column, field)) }}
{%- endmacro %}

{% macro default__min_field(array_column, field) -%}
    list_min([element.{{ field }} for element in {{ array_column }}])
{%- endmacro %}

{% macro bigquery__min_field(array_column, field) -%}
    (select min(element.{{ field }}) from unnest({{ array_column }}) as element)
{%- endmacro %}

{#- A cart's lines (product_id, quantity: FakeStore's cart events) as the
    lines of a canonical order (source_id, product_id, variant_id, sku,
    quantity, unit_price, total), in their order: ids as text, unpriced
    (fact_order_items prices them from the catalogue as of the order's
    date). -#}
{% macro cart_lines_as_order_lines(array_column) -%}
    {{ return(adapter.dispatch('cart_lines_as_order_lines', 'shoplake')(array_column)) }}
{%- endmacro %}

{% macro default__cart_lines_as_order_lines(array_column) -%}
    [
        {
            'source_id': cast(null as varchar),
            'product_id': cast(line.product_id as varchar),
            'variant_id': cast(line.product_id as varchar),
            'sku': cast(null as varchar),
            'quantity': line.quantity,
            'unit_price': cast(null as {{ money_type() }}),
            'total': cast(null as {{ money_type() }})
        }
        for line in {{ array_column }}
    ]
{%- endmacro %}

{% macro bigquery__cart_lines_as_order_lines(array_column) -%}
    array(
        select as struct
            cast(null as string) as source_id,
            cast(line.product_id as string) as product_id,
            cast(line.product_id as string) as variant_id,
            cast(null as string) as sku,
            line.quantity,
            cast(null as numeric) as unit_price,
            cast(null as numeric) as total
        from unnest({{ array_column }}) as line with offset as line_offset
        order by line_offset
    )
{%- endmacro %}
