from django.urls import path

from . import reports, views

urlpatterns = [
    path("promotions", views.PromotionListCreateView.as_view(), name="promotions"),
    path("promotions/<int:promotion_id>", views.PromotionDetailView.as_view(), name="promotion-detail"),
    path("files", views.FileView.as_view(), name="files"),
    path("files/read", views.FilesView.as_view(), name="files-read"),
    path("reports/pods", reports.PodReportView.as_view(), name="report-pods"),
    path("reports/repositories", reports.RepositoryReportView.as_view(), name="report-repositories"),
    path("reports/days", reports.DayReportView.as_view(), name="report-days"),
]
