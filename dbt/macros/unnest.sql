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
