from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models


class ExactDecimalField(models.Field):
    """PostgreSQL ``numeric`` with no precision or scale.

    Exchanges publish prices and sizes with varying precision; an
    unconstrained numeric stores exactly what was published, where a fixed
    scale would pad (1.x served ``0E-18``) or round.
    """

    description = "Exact decimal number"

    def db_type(self, connection):
        return "numeric"

    def to_python(self, value):
        if value is None or isinstance(value, Decimal):
            return value
        try:
            return Decimal(str(value))
        except ArithmeticError:
            raise ValidationError(f"{value!r} is not a decimal number") from None

    def get_prep_value(self, value):
        return self.to_python(super().get_prep_value(value))


class StatementTimestamp(models.Func):
    """``statement_timestamp()``: unlike now(), it differs between statements of one transaction."""

    function = "statement_timestamp"
    template = "%(function)s()"
    output_field = models.DateTimeField()
