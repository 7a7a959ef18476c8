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

{#- Pseudonymises an e-mail address: hex SHA-256 of a salt and the trimmed,
    lower-cased address. The salt comes from SHOPLAKE_EMAIL_SALT. -#}
{% macro hash_email(column) -%}
    {{ return(adapter.dispatch('hash_email', 'shoplake')(column)) }}
{%- endmacro %}

{% macro default__hash_email(column) -%}
    sha256('{{ env_var("SHOPLAKE_EMAIL_SALT", "shoplake-local-salt") }}' || lower(trim({{ column }})))
{%- endmacro %}

{% macro bigquery__hash_email(column) -%}
    to_hex(sha256('{{ env_var("SHOPLAKE_EMAIL_SALT", "shoplake-local-salt") }}' || lower(trim({{ column }}))))
{%- endmacro %}
