"""Operations-center pages, one module each: SLUG, TITLE, PERMISSION, ORDER and build(session) -> viewable."""
