import django_filters

from apps.organizations.models import Membership, Role


class MembershipFilter(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)
    search = django_filters.CharFilter(method="filter_search")

    class Meta:
        model = Membership
        fields = ["role"]

    def filter_search(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(Q(user__email__icontains=value) | Q(user__full_name__icontains=value))
