{#- A surrogate key: the hex MD5 of the fields, null-safe and typed the same on
    both engines. -#}
{% macro surrogate_key(fields) -%}
    {{ return(adapter.dispatch('surrogate_key', 'shoplake')(fields)) }}
{%- endmacro %}

{% macro default__surrogate_key(fields) -%}
    md5(
        {%- for field in fields %}
        coalesce(cast({{ field }} as {{ dbt.type_string() }}), '_null_'){% if not loop.last %} || '|' ||{% endif %}
        {%- endfor %}
    )
{%- endmacro %}

{% macro bigquery__surrogate_key(fields) -%}
    to_hex(md5(
        {%- for field in fields %}
        coalesce(cast({{ field }} as string), '_null_'){% if not loop.last %} || '|' ||{% endif %}
        {%- endfor %}
    ))
{%- endmacro %}
