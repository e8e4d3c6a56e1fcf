from django.urls import path

from incidents.customers import api

urlpatterns = [
    path("customers/", api.CustomerListView.as_view(), name="api-customer-list"),
    path("customers/<int:customer_id>/", api.CustomerDetailView.as_view(), name="api-customer"),
    path("customers/<int:customer_id>/agreements/", api.AgreementCreateView.as_view(), name="api-customer-agreements"),
    path("customers/<int:customer_id>/contacts/", api.ContactCreateView.as_view(), name="api-customer-contacts"),
]
