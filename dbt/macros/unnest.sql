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

{#- Selects one row per order date a cart of relation has had (its
    order_dates array, from int_carts_latest): cart_id and order_date. -#}
{% macro unnest_order_dates(relation) -%}
    {{ return(adapter.dispatch('unnest_order_dates', 'shoplake')(relation)) }}
{%- endmacro %}

{% macro default__unnest_order_dates(relation) -%}
    select
        cart_id,
        unnest(order_dates) as order_date
    from {{ relation }}
{%- endmacro %}

{% macro bigquery__unnest_order_dates(relation) -%}
    select
        {{ relation }}.cart_id,
        order_date
    from {{ relation }}
    cross join unnest({{ relation }}.order_dates) as order_date
{%- endmacro %}
