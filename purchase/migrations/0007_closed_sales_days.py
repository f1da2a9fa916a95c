"""The sales overview's days that are over, kept once counted (`purchase.sales`)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('purchase', '0006_recent_and_cancelled_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='ClosedSalesDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('time_zone', models.CharField(max_length=64)),
                ('purchases', models.BigIntegerField()),
                ('with_points', models.BigIntegerField()),
                ('revenue', models.BigIntegerField()),
                ('refunds', models.BigIntegerField()),
                ('refunded', models.BigIntegerField()),
                ('points_issued', models.BigIntegerField()),
                ('points_taken_back', models.BigIntegerField()),
                ('points_spent', models.BigIntegerField()),
                ('points_returned', models.BigIntegerField()),
                ('kept_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('time_zone', 'day'), name='one_sales_day_per_zone')],
            },
        ),
    ]
